"""The page's CSS and JavaScript (``page``) and the editor's shortcuts, brush size and compare
(``editor_page``): plain strings handed to Gradio."""

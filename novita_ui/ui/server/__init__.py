"""What wraps Gradio's server: sign-in on every route and its throttle, the page cache, MCP's loopback client,
and ``gradio_seams``, the one module that touches Gradio's internals."""

"""novita-ui: remove unwanted objects, people, text and defects from photos (Novita AI or offline)."""

__version__ = "0.1.0"

"""What the page and the public API call: photo and mask events, Remove, the named endpoints and their MCP
descriptions, the user-facing refusals. Each gets an ``EventContext``, never the ``App`` that holds it."""

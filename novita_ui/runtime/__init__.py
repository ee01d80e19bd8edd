"""Where work runs and what it may hold: worker processes, the memory budget, the spend guard on the server's
key, crash-safe storage, per-session scratch folders and their expiry."""

"""The DashScope wire adapter: HTTP (and later WebSocket) over the hotasr core."""

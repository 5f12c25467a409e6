"""The websocket interface: wire protocol, server, browser page, health figures."""

"""The YouTube provider (Data API v3): playlists, their items and videos."""

"""The Vimeo provider (API 3.4): showcases, their videos and a user's videos."""

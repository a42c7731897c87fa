"""The public: tracking-code lookup (/track) and the public results page (no login)."""

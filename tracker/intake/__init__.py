"""Intake: negative reviews and complaints from every channel, registered once, identity protected."""

"""Satisfaction callbacks after ticket closure (see issue 6)."""

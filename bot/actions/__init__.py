"""Custom actions of the seat; the Rasa SDK action server imports every module in this package."""

"""Helpers for the Streamlit app only: session state, per-session memo, error display, progress."""

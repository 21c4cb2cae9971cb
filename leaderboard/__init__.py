"""The Streamlit leaderboard: `data` holds the pure pandas logic, `app` only lays it out."""

"""Analysis of finished tune-stop experiments."""

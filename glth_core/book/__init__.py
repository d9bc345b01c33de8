"""Layer 6, the book's chapter support: the chapter object and the run-size profiles."""

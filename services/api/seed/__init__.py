"""Demo data for Hạ Long: the real directory and directive 984/UBND, with invented people."""

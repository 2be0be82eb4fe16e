"""Head-to-head of mMACE and the Heisenberg baselines: spirals, thermodynamics, reports."""

"""`make bench`: the stack on free ports, driven by fixed request counts, measured from the operating
system (CPU time and peak memory of every server process), compared with the old Flask system."""

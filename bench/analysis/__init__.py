"""What the results say: the model (c, w, break-even), the facts and claims of one file and
their words, and the judgement of one file against another (compare, repro, advise). It reads
the results model only and never runs anything."""

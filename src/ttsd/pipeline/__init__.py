"""The request pipeline: admission, the request plan, the job, the per-family lanes, joining and timing, the
output stage and the sentence cache; the engine is its facade (:mod:`ttsd.pipeline.engine`)."""

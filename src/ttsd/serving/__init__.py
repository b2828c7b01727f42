"""The serving core: batching policy, asyncio batcher and model executors. No HTTP, no torch types.

* :mod:`ttsd.serving.policy`: the pure batching policy (``next_batch``, ``prune``).
* :mod:`ttsd.serving.batcher`: the asyncio loop around the policy (queue bound, deadlines, cancellation).
* :mod:`ttsd.serving.executors`: run batches off the event loop (``CpuExecutor`` on CPU,
  ``CudaExecutor`` on CUDA) and choose the device.
"""

"""Starting and watching real servers: free ports, process trees from /proc, a server's
environment, start, readiness, log and stop, and the container engine scripts/image.sh chooses.

Light on purpose: it imports neither the server (``service``) nor torch, so the load tests,
the benchmarks and the tests start the server through it as a separate process.
"""

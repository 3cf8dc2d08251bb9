"""Background work: Dramatiq actors and the steps they run.

``transcribe`` (claim, download, shape, plan chunks) → ``chunk`` (one engine call per chunk;
the last one assembles) → ``deliver`` (the note and the attribute). ``recovery`` finds lost
work; ``backoff`` is the retry policy; ``limiter`` the per-account limit on engine calls.
"""

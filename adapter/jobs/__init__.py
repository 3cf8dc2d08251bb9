"""Background work: Dramatiq actors and the steps they run.

``transcribe`` (claim, download, shape, plan chunks) → ``chunk`` (one engine call per chunk;
the last one assembles) → ``deliver`` (the note and the attribute); a transcription that ends
failed or skipped owes ``failure_note`` (one note telling the agents to listen themselves).
``recovery`` finds lost work; ``backoff`` is the retry policy; ``limiter`` the per-account
limit on engine calls.
"""

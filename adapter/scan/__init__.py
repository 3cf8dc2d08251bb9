"""Finding audio by reading Chatwoot instead of waiting for webhooks: reconciler and backfill.

Chatwoot sends each webhook once and never retries it; whatever the service missed (a deploy, a
crash, a slow database answering 503, audio from before the installation) is still in
Chatwoot. Both paths walk the conversations with activity in a window and their messages
(``adapter.helpdesk.reader``), decide each message by the same rules as webhooks
(``channels.decide_listed``), and record the audio through the same intake (one transcription
per (account, attachment), ever; ``Ledger.record_found``).

- ``window``: the time window of a scan (pure): from a watermark, or from ``--since``.
- ``sift``: one conversation's messages → the audio to record, what is known, what is skipped
  (pure), including this service's own notes found in the conversation.
- ``walk``: one account, one window: the I/O loop over the reader, the ledger and the queue.
- ``reconciler``: every account with a user token, under a lease per account, every
  ``TRANSCRIBER_RECONCILE_INTERVAL_SECONDS`` in each worker process, or once (``reconcile``).
"""

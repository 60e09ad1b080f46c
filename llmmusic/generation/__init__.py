"""Asking an LLM for music: prompts and variants, structured outputs, the client, its cache and server,
the resumable grid run, batch files, and the dataset card (see the module map in :mod:`llmmusic`)."""

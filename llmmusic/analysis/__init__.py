"""Measuring music and models: dataset statistics and music metrics, the prompt-design probe, feature
baselines, classification and ranking metrics with bootstrap intervals (see :mod:`llmmusic`)."""

"""The paper's experiments, one package each with one ``experiment.py`` driver: :mod:`.zeroshot`
(zero-shot classification by the LLM), :mod:`.cnn` (genre / style CNN), :mod:`.melody` (melody
completion); :mod:`.torch_setup` is shared by the two trained models."""

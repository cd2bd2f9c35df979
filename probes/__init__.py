"""Probes and weak-to-strong copies on hidden states: fit/predict_proba estimators.

``base`` (the protocol, input checks), ``logistic``, ``mass_mean`` (and LDA), ``ccs``,
``metrics`` (AUROC, bootstrap intervals, cross-fitting, calibrated thresholds), ``sweep`` (the
layer sweep, earliest informative layer, embedding sanity) and ``w2s`` (the
auxiliary-confidence heads and weak-label sources). The checks that use them live in
``checks/probe.py`` and ``checks/w2s_copies.py``.
"""

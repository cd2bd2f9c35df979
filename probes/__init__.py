"""Probes and weak-to-strong copies on hidden states: scikit-learn estimators (fit,
predict_proba of shape (n, 2), get_params/set_params, clone).

``base`` (the estimator base classes, input checks), ``logistic``, ``mass_mean`` (and LDA), ``ccs``,
``metrics`` (AUROC, bootstrap intervals, cross-fitting, calibrated thresholds), ``sweep`` (the
layer sweep, earliest informative layer, embedding sanity) and ``w2s`` (the
auxiliary-confidence heads and weak-label sources). The checks that use them live in
``checks/probe.py`` and ``checks/w2s_copies.py``.
"""

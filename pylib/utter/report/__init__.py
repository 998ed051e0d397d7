"""RESULTS.md from the files the stages wrote: the one spec language of results.conf (``spec``), the
verification and classification tables (``verification``, ``classification``) and the page
(``document``). Nothing is re-run here, and no recipe's wording lives here: it comes from each
recipe's conf/results.conf.
"""

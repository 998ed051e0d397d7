"""Kaldi's data-dir tools on raw lines, one module per tool: filter, split, subset, fix, combine, copy.

Each tool gives the files, line order and bytes that Kaldi's script of the same name gives on the
same input, with the same ``.backup/`` contents and the same messages' meaning; beyond Kaldi, this
toolkit's per-utterance label tables (:data:`~utter.data.dirtools.tables.LABEL_FILES`) follow along.

* :mod:`~utter.data.dirtools.filter_scp` -- ``filter_scp.pl``
* :mod:`~utter.data.dirtools.split` -- ``split_scp.pl``, ``split_data.sh``
* :mod:`~utter.data.dirtools.subset` -- ``subset_scp.pl``, ``shuffle_list.pl``, ``subset_data_dir.sh``
* :mod:`~utter.data.dirtools.fix` -- ``fix_data_dir.sh``
* :mod:`~utter.data.dirtools.combine` -- ``combine_data.sh``
* :mod:`~utter.data.dirtools.copy` -- ``copy_data_dir.sh``
* :mod:`~utter.data.dirtools.speakers` -- ``utt2spk_to_spk2utt.pl``, ``spk2utt_to_utt2spk.pl``
* :mod:`~utter.data.dirtools.tables` -- what they share: tables as lines of bytes, read once and
  written once through a temporary name (a tool stopped midway leaves every file old or new,
  never half-written), keys, sorting, the tables of one data dir.

The modules are named after the tools of :mod:`utter.bin.datadir_tools` (the command lines); this
package re-exports nothing: import each name from its module.
"""

"""Weight sharing: supernets built from a space's own network, the DARTS family, selection, checkpoints.

* :mod:`nasforge.oneshot.supernet`: ``Controller``, ``ChoiceOp``, ``Supernet``, BatchNorm recalibration and
  ``path_accuracy`` (a sub-network scored with inherited weights);
* :mod:`nasforge.oneshot.nets`: the supernets of the ``nb201``, ``darts``, ``mobilenet`` and ``mlp`` spaces
  (registry ``SUPERNETS``);
* :mod:`nasforge.oneshot.methods`: ``darts``, ``darts2``, ``gdas`` (registry ``ONESHOT``), magnitude and
  perturbation-based selection, collapse guards, checkpoints and resume; ``build_supernet``;
* :mod:`nasforge.oneshot.record`: what a method derives, recorded in a study through ``Study.add_trial``.

``nasforge oneshot`` and :func:`nasforge.api.oneshot` run them; see ``docs/oneshot.md``. Importing this
package does not import torch; its modules do.
"""

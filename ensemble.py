"""Late fusion of score files (EPP-Net's ``ensemble.py`` command line, and more); see ``fusion/cli.py``.

    python ensemble.py --benchmark NTU60XSub --joint_Score j.pkl --bone_Score b.pkl \\
        --jointmotion_Score jm.pkl --bonemotion_Score bm.pkl --parsing_Score p.pkl --val_sample names.txt
    python ensemble.py --table configs/paper_table.yaml --out results/

The work is done by the :mod:`fusion` package; this file is the entry point the reference has.
"""

import sys

from fusion.cli import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())

from lm_eval.tasks.hellaswag.utils import process_docs  # noqa: F401  (lm-eval's own preprocessing)

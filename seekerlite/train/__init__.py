"""Training: supervised fine-tuning (``sft.py``, its collator ``collate.py``) and GRPO (``grpo.py``, ``rewards.py``).

Modules are imported on use (``from seekerlite.train.sft import train_sft``): they pull in TRL and torch.
"""

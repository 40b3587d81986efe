"""Lesson 13 — Attention: the seven exercises, in lesson order.

softmax → attention → masking → self_attention → multi_head → encoder → classifier.
Later exercises build on earlier ones by importing them (``from .masking import masked_attention``).
"""

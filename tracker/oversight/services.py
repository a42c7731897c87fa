"""Covert re-inspection (暗访复查): batches drawn by method, 双随机 inspectors with 回避, visits and
their effect on the problem."""

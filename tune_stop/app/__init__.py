"""The roof: everything that sees every package (the command line, the search driver, the calibrate loop).

Nothing below it (``tune_stop``'s other modules, ``search_spaces``, ``analysis``) imports it.
"""

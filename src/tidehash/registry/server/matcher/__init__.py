"""The platform's own matcher (``tidehash serve --role matcher --config FILE``): the
registry's lookup in another role. It follows banks (a tidehash registry, an NCMEC-style
API, a StopNCII-style API, local list files: ``config``), keeps each bank's entries and
the source's checkpoint in the registry's database (``store``), matches from the
registry's LookupState (``banks``), answers HMA 2.0's routes and the registry's batched
``POST /v1/lookup`` (``app``, ``hma``), sends platforms' verdicts back to the sources
(``feedback``) and shows its state (``ops``). See the registry README, "Matcher"."""

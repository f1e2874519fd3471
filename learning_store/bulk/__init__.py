"""Bulk validation: the record rules on whole Arrow batches (see `validate`)."""

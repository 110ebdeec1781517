"""Replenishment: purchase orders to suppliers (`purchasing`), the reorder job that drafts them
(`reorder`), and reorder points suggested from recent demand (`demand`)."""

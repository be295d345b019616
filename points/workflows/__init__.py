"""What residents ask and departments decide: credit commitments (信用承诺), credit repair (信用修复) and
objections (异议)."""

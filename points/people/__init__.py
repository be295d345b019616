"""Residents: accounts and sign-in, consents and the consent policy, real-name binding by face
verification, ID numbers and masking, who may see credit points, the rights the privacy law
gives (erasure, export), and the notifications telling people what happens to their credit."""

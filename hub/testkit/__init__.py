"""Test helpers for the hub and connector plugins: real local servers, no mocks."""

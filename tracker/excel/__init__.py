"""Spreadsheets: reading CSV/XLSX for import, writing XLSX/CSV for export."""

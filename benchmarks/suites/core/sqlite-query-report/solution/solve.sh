#!/bin/bash
# Oracle: two report queries written as CSV by the sqlite3 CLI.

mkdir -p /app/report
sqlite3 /app/data/library.db ".tables" "SELECT count(*) FROM loans;"

export DB=/app/data/library.db
sqlite3 -header -csv "$DB" "SELECT m.name AS member, b.title AS title, l.due_date AS due_date, CAST(julianday('2024-09-30') - julianday(l.due_date) AS INTEGER) AS days_overdue FROM loans l JOIN members m ON m.id = l.member_id JOIN books b ON b.id = l.book_id WHERE l.returned_on IS NULL AND l.due_date < '2024-09-30' ORDER BY days_overdue DESC, member, title;" > /app/report/overdue.csv
wc -l /app/report/overdue.csv

export DB=/app/data/library.db
# sim: prefers sqlite-utils query "$DB" "SELECT a.name AS author, count(*) AS loans FROM loans l JOIN book_authors ba ON ba.book_id = l.book_id JOIN authors a ON a.id = ba.author_id GROUP BY a.id ORDER BY loans DESC, author LIMIT 5" --csv > /app/report/top_authors.csv
sqlite3 -header -csv "$DB" "SELECT a.name AS author, count(*) AS loans FROM loans l JOIN book_authors ba ON ba.book_id = l.book_id JOIN authors a ON a.id = ba.author_id GROUP BY a.id ORDER BY loans DESC, author LIMIT 5;" > /app/report/top_authors.csv

#!/bin/bash
# Oracle: add the headers as prerequisites, bump REPEAT, rebuild from the project folder.

make -C /app/proj

sed -i 's/^main.o: main.c$/main.o: main.c config.h util.h/; s/^util.o: util.c$/util.o: util.c util.h/' /app/proj/Makefile

sed -i 's/^#define REPEAT 3$/#define REPEAT 5/' /app/proj/config.h

cd /app/proj
make
./banner > /app/banner.txt

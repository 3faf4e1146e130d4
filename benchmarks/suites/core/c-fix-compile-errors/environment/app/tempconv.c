/* tempconv F...: print each Fahrenheit value in Celsius, then the mean in Celsius. */
#include <stdio.h>

static double to_celsius(double f)
{
    return (f - 32.0) * 5.0 / 9.0
}

int main(int argc, char **argv)
{
    double total = 0.0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FAHRENHEIT...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        double f = strtod(argv[i], NULL);
        double celsius = to_celsius(f);
        printf("%.1f F = %.1f C\n", f, celcius);
        total += celsius;
    }
    printf("mean = %.2f C\n", total / (argc - 1));
    return 0;
}

/* A program that loads libgcc_s.so.1 (linked with --no-as-needed -lgcc_s). */
int main(void) { return 0; }

global using NUnit.Framework;
global using System.Numerics;
